"""How the engine sizes the batches it moves: channels, worker batch sizes, the end of input."""

from __future__ import annotations

from paipa._engine._channel import Channel
from paipa._engine._process import _tail_share
from paipa._engine._pump import BatchSize


def test_a_get_takes_across_the_batches_producers_put() -> None:
    channel = Channel(capacity=100)
    for start in range(0, 30, 10):
        channel.put(list(range(start, start + 10)))
    assert channel.get(7) == (0, list(range(7)))
    assert channel.get(12) == (7, list(range(7, 19)))  # the rest of one batch, part of the next
    assert channel.get(5) == (19, list(range(19, 24)))
    assert channel.get(100) == (24, list(range(24, 30)))
    assert len(channel) == 0
    channel.close()
    assert channel.get(5) == (30, [])


def test_producers_put_batches_of_the_size_the_channel_asks_for() -> None:
    assert Channel(capacity=1024, batch=512).batch == 512
    assert Channel(capacity=4, batch=512).batch == 4  # never more than it holds
    assert Channel(capacity=1024).batch == 64


def test_batch_size_starts_at_one_item_and_at_most_doubles() -> None:
    size = BatchSize(most=512, aim=0.2)
    limits = [size.limit]
    for _ in range(10):
        size.measured(seconds=0.001 * size.limit, items=size.limit)  # 1 ms per item
        limits.append(size.limit)
    assert limits == [1, 2, 4, 8, 16, 32, 64, 128, 200, 200, 200]
    size.measured(seconds=0.2, items=1)  # slower items: smaller at once
    assert size.limit < 10


def test_once_the_input_ended_each_worker_takes_a_share_of_what_is_left() -> None:
    channel = Channel(capacity=1000)
    channel.put(list(range(100)))
    channel.close()
    taken: list[int] = []
    while len(channel):
        limit = _tail_share(20, channel, (1, 2))
        taken.append(len(channel.get(limit)[1]))
    assert taken[:4] == [20, 20, 15, 11]  # a quarter of what is left, at most 20
    assert taken[-3:] == [1, 1, 1]  # the last items go one at a time
    assert sum(taken) == 100

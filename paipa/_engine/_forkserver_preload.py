"""Imported by the forkserver paipa launches, after paipa itself: imports the main script there."""

from ._forkserver import import_main_in_server

import_main_in_server()

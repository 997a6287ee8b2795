"""The `groupbot` command line: the entry in `main`, shared helpers in `common`, the shell's commands beside them."""

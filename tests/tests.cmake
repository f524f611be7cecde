# Tests of the io_uring engine (not built for the qemu cross run).

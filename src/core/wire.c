/* wire.c: not yet written */

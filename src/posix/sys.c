/* sys.c: not yet written */

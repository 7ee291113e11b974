/* chan.c: not yet written */

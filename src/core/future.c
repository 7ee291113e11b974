/* future.c: not yet written */

/* spawn.c: not yet written */

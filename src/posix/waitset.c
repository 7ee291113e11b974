/* waitset.c: not yet written */

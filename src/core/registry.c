/* registry.c: not yet written */

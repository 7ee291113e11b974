/* map.c: not yet written */

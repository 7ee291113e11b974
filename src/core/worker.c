/* worker.c: not yet written */

/* wait.c: not yet written */

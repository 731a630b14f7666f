"""What generated checks call at run time: facts, primitives and verdicts."""

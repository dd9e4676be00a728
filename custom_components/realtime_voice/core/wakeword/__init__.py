"""Wake-word engines (openWakeWord, microWakeWord) behind one interface."""

"""Stage 3: translate each rule into every target's query language through pySigma."""

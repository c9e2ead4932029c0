"""Memory service: conversation turns and facts with hybrid retrieval, and the character store."""

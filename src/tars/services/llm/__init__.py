"""The llm service: chat completion providers, prompt budgeting and tool-call parsing."""

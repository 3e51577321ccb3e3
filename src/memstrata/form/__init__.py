"""Memory formation: turning raw turns into episodes, summaries and facts."""

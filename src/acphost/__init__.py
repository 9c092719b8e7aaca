"""acphost: host coding agents that speak the Agent Client Protocol."""

"""memstrata as a service: the HTTP API, the MCP server and what they share."""

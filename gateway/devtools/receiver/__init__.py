"""The reference receiver of docs/upstream.md: the API without HTTP (api) and the HTTP
server around it (server); the cloud team's executable spec."""

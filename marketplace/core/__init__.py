"""Cross-cutting pieces every domain uses: errors, the API base, time, audit trail."""

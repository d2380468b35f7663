"""The alerts' storage and reads (the tables: db/schema/alerts.py): hourly.py reads what judging a rule needs, hour
by hour (UserSessions' per-session totals, and histogram rows for a rule on sizes); store.py keeps the alerts, the
hours judged, the claims of what is to be sent and the deliveries. What the alerts mean is clusterdash/alerts/'s;
the questions the dashboard and the API ask about them are db/query/alerts.py's."""

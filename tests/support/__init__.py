"""What more than one test package uses: the app under test, problem checks, the PostgreSQL
admin connection, the environment the product is run in, and server processes."""

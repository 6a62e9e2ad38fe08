-- PostgreSQL gets a function that stores a push in one statement (0160_push_function.sql there); SQLite
-- runs in the process and needs none. The number is kept in step on both backends.
SELECT 1;

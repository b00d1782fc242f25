import pytest
from online_migrations import change_table, finish_migration, OnlineMigrationError

@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("new_type", ["varchar(20) COLLATE utf8mb4_general_ci", "varchar(3) COLLATE utf8mb4_bin", "varchar(20) CHARACTER SET latin1"])
def test_probe_collation_dupes(sql, new_type):
    sql("CREATE TABLE u (id int AUTO_INCREMENT PRIMARY KEY, name varchar(20) COLLATE utf8mb4_bin NOT NULL, UNIQUE KEY uname (name))")
    sql("INSERT INTO u (name) VALUES ('abcd'), ('ABCD'), ('x'), ('abce'), ('😀a'), ('😁a')")
    sql("INSERT INTO u (name) SELECT CONCAT('n', seq) FROM seq_1_to_1000")
    dest = f"CREATE TABLE u (id int AUTO_INCREMENT PRIMARY KEY, name {new_type} NOT NULL, UNIQUE KEY uname (name))"
    try:
        change_table("default", "u", dest, [], ["id", "name"], ["id", "name"], chunk_size=100)
        finish_migration("default", "u")
        print("DONE", sql.value("SELECT COUNT(*) FROM u"))
    except OnlineMigrationError as e:
        print("ERR", str(e)[:700])
    sql("DROP TABLE IF EXISTS u")

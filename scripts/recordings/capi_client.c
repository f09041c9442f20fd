/*
 * A libmariadb (MariaDB Connector/C) session for recordings/libmariadb-capi.jsonl: what only the
 * C API sends. Built and run by `deno task recordings` (needs gcc and libmariadb-dev):
 *
 *   capi_client HOST PORT USER PASSWORD DATABASE
 *
 * Read-only cursors fetched in batches (COM_STMT_FETCH), long data (COM_STMT_SEND_LONG_DATA),
 * COM_STMT_RESET, every parameter type bound from C, unsigned parameters, COM_FIELD_LIST,
 * COM_SET_OPTION with multi-statements, COM_INIT_DB, COM_PING, COM_RESET_CONNECTION.
 * Fixed values only, so recording it again gives the same traffic.
 */
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static MYSQL *db;

static void die(const char *what, const char *message) {
  fprintf(stderr, "capi_client: %s: %s\n", what, message);
  exit(1);
}

static void check(int failed, const char *what) {
  if (failed) die(what, mysql_error(db));
}

static void check_stmt(MYSQL_STMT *stmt, int failed, const char *what) {
  if (failed) die(what, mysql_stmt_error(stmt));
}

/* Prints a text result (and every further one of a multi-statement). */
static void print_results(const char *what) {
  do {
    MYSQL_RES *result = mysql_store_result(db);
    if (result) {
      unsigned int fields = mysql_num_fields(result);
      MYSQL_ROW row;
      while ((row = mysql_fetch_row(result))) {
        printf("%s:", what);
        for (unsigned int i = 0; i < fields; i++) printf(" %s", row[i] ? row[i] : "NULL");
        printf("\n");
      }
      mysql_free_result(result);
    } else if (mysql_field_count(db) == 0) {
      printf("%s: %llu rows affected\n", what, (unsigned long long)mysql_affected_rows(db));
    } else {
      die(what, mysql_error(db));
    }
  } while (mysql_next_result(db) == 0);
}

/* A read-only cursor fetched two rows at a time: one COM_STMT_FETCH per batch. */
static void cursor(void) {
  MYSQL_STMT *stmt = mysql_stmt_init(db);
  const char *sql = "SELECT id, name, amount FROM items WHERE id >= ? ORDER BY id";
  check_stmt(stmt, mysql_stmt_prepare(stmt, sql, strlen(sql)), "prepare cursor");
  unsigned long type = CURSOR_TYPE_READ_ONLY, prefetch = 2;
  mysql_stmt_attr_set(stmt, STMT_ATTR_CURSOR_TYPE, &type);
  mysql_stmt_attr_set(stmt, STMT_ATTR_PREFETCH_ROWS, &prefetch);
  int from = 1;
  MYSQL_BIND param = {0};
  param.buffer_type = MYSQL_TYPE_LONG;
  param.buffer = &from;
  check_stmt(stmt, mysql_stmt_bind_param(stmt, &param), "bind cursor");
  check_stmt(stmt, mysql_stmt_execute(stmt), "execute cursor");
  int id;
  char name[64];
  char amount[32];
  unsigned long name_length, amount_length;
  MYSQL_BIND out[3];
  memset(out, 0, sizeof out);
  out[0].buffer_type = MYSQL_TYPE_LONG;
  out[0].buffer = &id;
  out[1].buffer_type = MYSQL_TYPE_STRING;
  out[1].buffer = name;
  out[1].buffer_length = sizeof name;
  out[1].length = &name_length;
  out[2].buffer_type = MYSQL_TYPE_STRING;
  out[2].buffer = amount;
  out[2].buffer_length = sizeof amount;
  out[2].length = &amount_length;
  check_stmt(stmt, mysql_stmt_bind_result(stmt, out), "bind cursor result");
  while (mysql_stmt_fetch(stmt) == 0) {
    printf("cursor: %d %.*s %.*s\n", id, (int)name_length, name, (int)amount_length, amount);
  }
  mysql_stmt_close(stmt);
}

/* Every C parameter type in one INSERT; the note goes as long data; reset, then again. */
static void all_types(void) {
  MYSQL_STMT *stmt = mysql_stmt_init(db);
  const char *sql =
      "INSERT INTO params (ti, si, i, bi, ubi, f, d, s, note, dt, dtm, tm, dec1) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
  check_stmt(stmt, mysql_stmt_prepare(stmt, sql, strlen(sql)), "prepare insert");
  signed char ti = -5;
  short si = 1234;
  int i = -123456;
  long long bi = 9007199254740993LL;
  unsigned long long ubi = 18446744073709551615ULL;
  float f = 1.5f;
  double d = -2.25;
  char s[] = "h\xc3\xa9llo";
  unsigned long s_length = strlen(s);
  MYSQL_TIME dt = {0}, dtm = {0}, tm = {0};
  dt.year = 2024;
  dt.month = 1;
  dt.day = 2;
  dt.time_type = MYSQL_TIMESTAMP_DATE;
  dtm.year = 2024;
  dtm.month = 1;
  dtm.day = 2;
  dtm.hour = 3;
  dtm.minute = 4;
  dtm.second = 5;
  dtm.second_part = 123;
  dtm.time_type = MYSQL_TIMESTAMP_DATETIME;
  tm.neg = 1;
  tm.hour = 34;
  tm.minute = 5;
  tm.second = 6;
  tm.time_type = MYSQL_TIMESTAMP_TIME;
  char dec1[] = "-1234.567";
  unsigned long dec1_length = strlen(dec1);
  MYSQL_BIND p[13];
  memset(p, 0, sizeof p);
  p[0].buffer_type = MYSQL_TYPE_TINY;
  p[0].buffer = &ti;
  p[1].buffer_type = MYSQL_TYPE_SHORT;
  p[1].buffer = &si;
  p[2].buffer_type = MYSQL_TYPE_LONG;
  p[2].buffer = &i;
  p[3].buffer_type = MYSQL_TYPE_LONGLONG;
  p[3].buffer = &bi;
  p[4].buffer_type = MYSQL_TYPE_LONGLONG;
  p[4].buffer = &ubi;
  p[4].is_unsigned = 1;
  p[5].buffer_type = MYSQL_TYPE_FLOAT;
  p[5].buffer = &f;
  p[6].buffer_type = MYSQL_TYPE_DOUBLE;
  p[6].buffer = &d;
  p[7].buffer_type = MYSQL_TYPE_STRING;
  p[7].buffer = s;
  p[7].length = &s_length;
  p[8].buffer_type = MYSQL_TYPE_BLOB; /* sent with mysql_stmt_send_long_data */
  p[9].buffer_type = MYSQL_TYPE_DATE;
  p[9].buffer = &dt;
  p[10].buffer_type = MYSQL_TYPE_DATETIME;
  p[10].buffer = &dtm;
  p[11].buffer_type = MYSQL_TYPE_TIME;
  p[11].buffer = &tm;
  p[12].buffer_type = MYSQL_TYPE_NEWDECIMAL;
  p[12].buffer = dec1;
  p[12].length = &dec1_length;
  check_stmt(stmt, mysql_stmt_bind_param(stmt, p), "bind insert");
  check_stmt(stmt, mysql_stmt_send_long_data(stmt, 8, "long ", 5), "long data 1");
  check_stmt(stmt, mysql_stmt_send_long_data(stmt, 8, "data", 4), "long data 2");
  check_stmt(stmt, mysql_stmt_execute(stmt), "execute insert");
  printf("insert: %llu row\n", (unsigned long long)mysql_stmt_affected_rows(stmt));

  /* Long data dropped by COM_STMT_RESET, then the row again with a NULL note. */
  check_stmt(stmt, mysql_stmt_send_long_data(stmt, 8, "dropped", 7), "long data 3");
  check_stmt(stmt, mysql_stmt_reset(stmt), "reset");
  char is_null = 1;
  p[8].buffer_type = MYSQL_TYPE_NULL;
  p[8].is_null = &is_null;
  ti = 127;
  check_stmt(stmt, mysql_stmt_bind_param(stmt, p), "bind insert again");
  check_stmt(stmt, mysql_stmt_execute(stmt), "execute insert again");
  printf("insert: %llu row\n", (unsigned long long)mysql_stmt_affected_rows(stmt));
  mysql_stmt_close(stmt);
}

int main(int argc, char **argv) {
  if (argc != 6) die("usage", "capi_client HOST PORT USER PASSWORD DATABASE");
  db = mysql_init(NULL);
  unsigned int port = (unsigned int)atoi(argv[2]);
  check(!mysql_real_connect(db, argv[1], argv[3], argv[4], NULL, port, NULL, 0), "connect");
  check(mysql_ping(db), "ping");
  check(mysql_select_db(db, argv[5]), "select_db");
  cursor();
  all_types();
  check(mysql_query(db, "SELECT ti, si, i, bi, ubi, f, d, s, note, dt, dtm, tm, dec1 FROM params "
                        "ORDER BY id"),
        "select params");
  print_results("params");
  MYSQL_RES *fields = mysql_list_fields(db, "items", NULL);
  check(!fields, "list_fields");
  printf("fields: %u\n", mysql_num_fields(fields));
  mysql_free_result(fields);
  check(mysql_set_server_option(db, MYSQL_OPTION_MULTI_STATEMENTS_ON), "multi on");
  check(mysql_query(db, "SELECT COUNT(*) FROM items; SELECT name FROM items WHERE id = 2"),
        "multi");
  print_results("multi");
  check(mysql_set_server_option(db, MYSQL_OPTION_MULTI_STATEMENTS_OFF), "multi off");
  check(mysql_reset_connection(db), "reset connection");
  check(mysql_query(db, "SELECT DATABASE()"), "after reset");
  print_results("database");
  mysql_close(db);
  return 0;
}

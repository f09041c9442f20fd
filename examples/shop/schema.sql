-- The example shop's database: loaded into a throwaway MariaDB by `deno task recordings` before
-- it records recordings/demo.jsonl and examples/shop/cassettes/*.jsonl. Fixed data, no NOW(), so
-- recording it again gives the same answers.
CREATE DATABASE shop CHARACTER SET utf8mb4;
CREATE TABLE shop.products (
  id INT PRIMARY KEY AUTO_INCREMENT,
  name VARCHAR(100) NOT NULL,
  price DECIMAL(10, 2) NOT NULL,
  stock INT NOT NULL,
  added DATE NOT NULL
);
CREATE TABLE shop.orders (
  id INT PRIMARY KEY AUTO_INCREMENT,
  product_id INT NOT NULL,
  quantity SMALLINT NOT NULL,
  email VARCHAR(200) NOT NULL,
  ordered_at DATETIME NOT NULL
);
INSERT INTO shop.products (name, price, stock, added) VALUES
  ('Espresso cup', 7.50, 120, '2026-01-15'),
  ('Pour-over kettle', 39.90, 14, '2026-02-01'),
  ('Burr grinder', 129.00, 6, '2026-03-10'),
  ('Paper filters (100)', 4.20, 300, '2026-03-10');
INSERT INTO shop.orders (product_id, quantity, email, ordered_at) VALUES
  (1, 2, 'alice@example.com', '2026-11-20 09:12:00'),
  (3, 1, 'bob@example.com', '2026-11-20 17:45:30'),
  (1, 4, 'alice@example.com', '2026-11-21 08:03:10');

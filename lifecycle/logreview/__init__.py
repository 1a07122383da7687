"""Access-log review by sampling (アクセスログ検証)."""

"""Reports for auditors: 管理簿 (PDF and CSV), 保管履歴報告書, 廃棄記録書 and 例外一覧.

The renderers in render.py are pure (plain data in, bytes out); the queries live in services.
"""

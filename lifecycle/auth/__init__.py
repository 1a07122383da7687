"""Accounts, departments (所属), businesses (利用事務), roles and API tokens."""

"""Terminals (住基ネット CS端末) and the terminal-use approvals (使用伺い) that replace the paper book."""

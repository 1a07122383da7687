"""指摘事項 (findings) tracked from an audit to the on-site confirmation that closes them."""

"""Destruction (廃棄): witnessed 裁断・溶解・破砕 batches, and the store of uploaded certificates."""

"""The yearly self-inspection (自己点検): a checklist every department answers each 年度."""

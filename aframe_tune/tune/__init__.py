"""The hand-off to lightray/Ray Tune and the export of the best trial."""

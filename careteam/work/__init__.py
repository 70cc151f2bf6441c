"""My work: one page of what is waiting for a clinician across every patient she may see, grouped by when it
is due. It has no tables: it reads through the other features' services (plans' ``worklist``)."""

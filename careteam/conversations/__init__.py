"""Direct conversations between clinicians, optionally about a patient they share (then only while they are
on her care team), and the header's "Messages" count over them and the plans' threads."""

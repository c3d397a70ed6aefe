"""One module per green-screen panel."""

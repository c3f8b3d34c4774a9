// Replaced by the LB client.

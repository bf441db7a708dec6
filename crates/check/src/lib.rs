//! Health checkers (TCP, HTTP/SSL, MISC, DNS, SMTP, UDP, PING, FILE) behind one trait.

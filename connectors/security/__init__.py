"""What every secured connector shares: where secrets live, secret files, the local CA.

Layout under ``<cache_dir>/secrets/`` (git-ignored, folders 0700, secret files 0600)::

    tls/ca.pem            the lprx CA certificate (public: clients trust it)
    tls/ca.key            the CA's private key
    tls/<name>.pem        a server's private key and certificate chain (PEM keystore)
    kafka/<principal>.password     a Kafka SCRAM principal's password
    cassandra/<role>.password      a Cassandra role's password
    partners/<principal>.properties  a partner's ready librdkafka client file
"""

module vlb.local/tests/sdk-contract

go 1.26

module github.com/scangate/scangate

go 1.26.8

require (
	github.com/aws/aws-lambda-go v1.50.0
	github.com/google/go-cmp v0.7.0
	github.com/looplab/fsm v1.0.3
	go.etcd.io/bbolt v1.4.3
	go.uber.org/goleak v1.3.0
)

require golang.org/x/sys v0.29.0 // indirect

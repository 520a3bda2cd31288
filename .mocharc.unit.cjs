// `npm run test:unit`: every test that needs no Kubernetes cluster and no datastore server, in about half a minute.
// Left out, and run by `npm test` (.ci/test), which starts what they need:
// - *.cluster.test.ts: the local Kubernetes cluster (test/tooling/cluster);
// - the S3 / GCS / Azure datastore suites (conformance, faults through a proxy, integrity and concurrent runs over S3), the client API over S3 and GCS and `kubestep ui` over S3: versitygw, fake-gcs-server and
//   azurite (test/tooling/servers; the first two are built from Go modules);
// - test/package: `npm pack` + `npm install` into scratch projects, with an S3 server;
// - test/tooling: starts and stops the datastore servers with up.sh / down.sh.
// test/runtime/code/externals.test.ts installs the native-addon fixture first (test/tooling/native/setup.sh: npm ci, once).
const base = require("./.mocharc.json");

module.exports = {
  ...base,
  spec: ["test/**/*.test.ts"],
  ignore: [
    "test/**/*.cluster.test.ts",
    "test/runtime/datastore/s3.test.ts",
    "test/runtime/datastore/gcs.test.ts",
    "test/runtime/datastore/azure.test.ts",
    "test/runtime/datastore/faults.test.ts",
    "test/runtime/datastore/s3-runs.test.ts",
    "test/runtime/client/remote.test.ts",
    "test/runtime/ui/s3.test.ts",
    "test/package/**",
    "test/tooling/**",
  ],
};

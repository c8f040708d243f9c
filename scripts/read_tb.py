#!/usr/bin/env python3
"""Reads TensorBoard event files back with TensorBoard's own readers and prints
what they hold as JSON, for the tests that pin sweep's writer (tests/it/tensorboard.rs).

    read_tb.py DIR...

For each DIR (a folder of event files: a run's tb/ or a store's tb/), one
entry keyed by DIR:

- "files": each event file's name and number of records, read with the
  TFRecord reader that checks both checksums of every record (a bad one is an
  error, not a short read);
- "first": the first event of each file ({"step", "file_version"});
- "session_logs": [step, status] of every SessionLog event, in file order;
- "scalars": tag -> [[step, value], ...] in file order, from EventAccumulator
  (size guidance 0: every point kept; purge_orphaned_data off, so the points
  are exactly those in the files);
- "hparams": the HParams plugin's summaries parsed by its own metadata module:
  "session_start" ({"hparams", "group_name"}), "session_end" ({"status",
  "step"}), "experiment" (its hparam_infos and metric_infos as JSON).

    read_tb.py --dashboard LOGDIR

What the HParams dashboard shows of `tensorboard --logdir LOGDIR` (a store),
through the plugin's own request handlers over the event multiplexer:
{"hparams": [names], "metrics": [tags], "groups": [{"name", "hparams",
"sessions": [{"name", "status"}], "metrics": {tag: value}}]}.

Needs the `tensorboard` package (make venv installs it, pinned: the dashboard
mode calls the plugin's handlers, which are internal).
"""
import json
import os
import sys

from google.protobuf import json_format
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow
from tensorboard.plugins.hparams import api_pb2, metadata


def records(path):
    """Every record of one file; a failed checksum raises DataLossError."""
    reader = pywrap_tensorflow.PyRecordReader_New(path)
    out = []
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:
            return out
        out.append(reader.record())


def raw(dirname):
    files, first, logs = [], [], []
    for name in sorted(os.listdir(dirname)):
        if "tfevents" not in name:
            continue
        recs = records(os.path.join(dirname, name))
        files.append({"name": name, "records": len(recs)})
        events = [event_pb2.Event.FromString(r) for r in recs]
        if events:
            first.append({"step": events[0].step, "file_version": events[0].file_version})
        for e in events:
            if e.HasField("session_log"):
                logs.append([e.step, e.session_log.status])
    return {"files": files, "first": first, "session_logs": logs}


def value(v):
    kind = v.WhichOneof("kind")
    return getattr(v, kind) if kind else None


def hparams(acc):
    out = {}
    try:
        content = acc.PluginTagToContent(metadata.PLUGIN_NAME)
    except KeyError:
        content = {}
    for tag, data in content.items():
        if tag == metadata.SESSION_START_INFO_TAG:
            info = metadata.parse_session_start_info_plugin_data(data)
            out["session_start"] = {
                "hparams": {k: value(v) for k, v in info.hparams.items()},
                "group_name": info.group_name,
            }
        elif tag == metadata.SESSION_END_INFO_TAG:
            info = metadata.parse_session_end_info_plugin_data(data)
            steps = [t.step for t in acc.Tensors(tag)]
            out["session_end"] = {"status": api_pb2.Status.Name(info.status), "steps": steps}
        elif tag == metadata.EXPERIMENT_TAG:
            exp = metadata.parse_experiment_plugin_data(data)
            out["experiment"] = json_format.MessageToDict(exp, preserving_proto_field_name=True)
    return out


def read(dirname):
    acc = ea.EventAccumulator(
        dirname,
        size_guidance={ea.SCALARS: 0, ea.TENSORS: 0, ea.HISTOGRAMS: 0, ea.IMAGES: 0, ea.AUDIO: 0},
        purge_orphaned_data=False,
    )
    acc.Reload()
    out = raw(dirname)
    out["scalars"] = {tag: [[s.step, s.value] for s in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    out["hparams"] = hparams(acc)
    return out


def dashboard(logdir):
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider
    from tensorboard.backend.event_processing import plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import get_experiment, hparams_plugin, list_session_groups

    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(logdir)
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, logdir)
    plugin = hparams_plugin.HParamsPlugin(base_plugin.TBContext(data_provider=provider, logdir=logdir, multiplexer=mux))
    rc = context.RequestContext()
    exp = get_experiment.Handler(rc, plugin._context, "", api_pb2.GetExperimentRequest(include_metrics=True)).run()
    req = api_pb2.ListSessionGroupsRequest(
        start_index=0,
        slice_size=10000,
        include_metrics=True,
        allowed_statuses=[api_pb2.STATUS_UNKNOWN, api_pb2.STATUS_SUCCESS, api_pb2.STATUS_FAILURE, api_pb2.STATUS_RUNNING],
    )
    for h in exp.hparam_infos:
        req.col_params.add(hparam=h.name)
    for m in exp.metric_infos:
        req.col_params.add(metric=m.name)
    resp = list_session_groups.Handler(rc, plugin._context, "", req).run()
    return {
        "hparams": [h.name for h in exp.hparam_infos],
        "metrics": [m.name.tag for m in exp.metric_infos],
        "groups": [
            {
                "name": g.name,
                "hparams": {k: value(v) for k, v in g.hparams.items()},
                "sessions": [{"name": s.name, "status": api_pb2.Status.Name(s.status)} for s in g.sessions],
                "metrics": {m.name.tag: m.value for m in g.metric_values},
            }
            for g in resp.session_groups
        ],
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--dashboard"]:
        json.dump(dashboard(sys.argv[2]), sys.stdout)
    else:
        json.dump({d: read(d) for d in sys.argv[1:]}, sys.stdout)
    sys.stdout.write("\n")

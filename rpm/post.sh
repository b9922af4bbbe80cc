# %post — $1 is 1 on first installation, 2 or more on upgrade.
# Reproduces %systemd_post (preset on first installation) and adds what the socket needs.

# The generator is the agent binary under another name (it dispatches on argv[0]); a symlink
# keeps one copy of the binary in the package.
mkdir -p /usr/lib/systemd/system-generators
ln -sf ../../../bin/aops_agent /usr/lib/systemd/system-generators/aops-agent-generator

# Only when systemd runs (not in an image build or a chroot).
if [ -d /run/systemd/system ]; then
    # Runs the generator, so the socket's address follows agent.conf.
    systemctl daemon-reload >/dev/null 2>&1 || :
fi

if [ "$1" -eq 1 ]; then
    systemctl --no-reload preset aops-agent.socket aops-agent.service >/dev/null 2>&1 || :
    # A socket enabled by the preset should listen now, not only after the next boot.
    if [ -d /run/systemd/system ] && systemctl -q is-enabled aops-agent.socket 2>/dev/null; then
        systemctl start aops-agent.socket >/dev/null 2>&1 || :
    fi
fi
exit 0

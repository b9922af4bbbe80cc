# %postun — $1 is 0 on removal, 1 on upgrade.
# Reproduces %systemd_postun_with_restart with the daemon-reload it implies.
if [ "$1" -eq 0 ]; then
    rm -f /usr/lib/systemd/system-generators/aops-agent-generator
    # The token is a credential issued to this host: it must not outlive the agent.
    rm -f /etc/aops/agent_token.json
    # cargo-generate-rpm cannot own directories: remove ours when they are empty (an edited
    # agent.conf stays behind as agent.conf.rpmsave, and /etc/aops with it).
    rmdir /etc/aops /usr/share/doc/aops-agent /usr/share/licenses/aops-agent 2>/dev/null || :
fi
if [ -d /run/systemd/system ]; then
    # Drops the units and reruns the generators (the socket's drop-in goes with them).
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        # A running agent starts the new binary; a stopped one stays stopped.
        systemctl try-restart aops-agent.service >/dev/null 2>&1 || :
    fi
fi
exit 0

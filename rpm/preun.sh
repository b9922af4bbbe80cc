# %preun — $1 is 0 on removal, 1 on upgrade.
# Reproduces %systemd_preun: on removal, disable and stop both units.
if [ "$1" -eq 0 ]; then
    systemctl --no-reload disable --now aops-agent.service aops-agent.socket >/dev/null 2>&1 || :
fi
exit 0

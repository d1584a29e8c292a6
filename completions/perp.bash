# bash completion for perp's clients: perpctl, perpls, perpstat, perpok, perphup, perpwatch.
# Service names are the directories of the base directory: the -b argument, else
# $PERP_BASE, else the current directory (as the clients themselves decide).
# Install: source it from ~/.bashrc, or copy it to the bash-completion directory once per
# command name (make install-completions does).

_perp_basedir()
{
    local i base=
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        -b) base=${COMP_WORDS[i + 1]} ;;
        -b?*) base=${COMP_WORDS[i]#-b} ;;
        -c) [[ ${COMP_WORDS[0]##*/} == perpls ]] && base=. ;;
        esac
    done
    [[ -z $base ]] && base=${PERP_BASE:-.}
    printf '%s\n' "$base"
}

_perp_services()
{
    local base d names=()
    base=$(_perp_basedir)
    for d in "$base"/*/; do
        [[ -d $d ]] || continue
        d=${d%/}
        names+=("${d##*/}")
    done
    COMPREPLY=($(compgen -W "${names[*]}" -- "$1"))
}

_perp()
{
    local cur prev cmd i operands=0
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    cmd=${COMP_WORDS[0]##*/}

    case $prev in
    -b)
        COMPREPLY=($(compgen -d -- "$cur"))
        return
        ;;
    -u | -w)
        return
        ;;
    esac

    # Count the operands before the cursor (options end at the first operand).
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        -b | -u | -w) ((i++)) ;;
        --) ;;
        -*) ((operands == 0)) || ((operands++)) ;;
        *) ((operands++)) ;;
        esac
    done

    if [[ $cur == -* ]] && ((operands == 0)); then
        case $cmd in
        perpctl) COMPREPLY=($(compgen -W '-h -V -b -g -L -q -w' -- "$cur")) ;;
        perpls) COMPREPLY=($(compgen -W '-h -V -b -c -D -G -g -K -r -t --json' -- "$cur")) ;;
        perpstat) COMPREPLY=($(compgen -W '-h -V -b --json' -- "$cur")) ;;
        perpok) COMPREPLY=($(compgen -W '-h -V -b -u -v' -- "$cur")) ;;
        perphup) COMPREPLY=($(compgen -W '-h -V -q -t' -- "$cur")) ;;
        perpwatch) COMPREPLY=($(compgen -W '-h -V -b --json' -- "$cur")) ;;
        esac
        return
    fi

    case $cmd in
    perpctl)
        if ((operands == 0)); then
            # The command: only its first character counts; offer the letters and the words.
            COMPREPLY=($(compgen -W 'u d o p c a h i k q t w 1 2 U D A X
                up down once pause cont alarm hup interrupt kill quit term winch usr1 usr2' -- "$cur"))
        else
            _perp_services "$cur"
        fi
        ;;
    perpok)
        ((operands == 0)) && _perp_services "$cur"
        ;;
    perphup)
        ((operands == 0)) && COMPREPLY=($(compgen -d -- "$cur"))
        ;;
    *)
        _perp_services "$cur"
        ;;
    esac
}

complete -F _perp perpctl perpls perpstat perpok perphup perpwatch

# SPDX-License-Identifier: BSD-2-Clause
# Disk images with one partition, built as a user's would be, without mounting anything (mtools,
# sfdisk, mke2fs -d). Sourced by the firmware test (in-l1-firmware.sh) and bench/run.sh.
#   esp_disk IMAGE MiB gpt|mbr FILE:DEST...   an EFI system partition (FAT) holding the files
#   ext4_disk IMAGE MiB DIR                    a Linux partition (MBR, 0x83): ext4 made from DIR
#   bios_grub_disk IMAGE MiB DIR               the same, made bootable by a BIOS with GRUB (i386-pc)
# The partition runs from 1 MiB to 1 MiB before the end (GPT keeps its backup header there).
# All print "disk: ..." on stderr and return 1 on failure.

# disk_label IMAGE MiB gpt|mbr TYPE: the partition table; TYPE is sfdisk's (U, L) for GPT and the
# MBR type byte (ef, 83) for MBR
disk_label() {
	local img=$1 mb=$2 label=$3 type=$4 sectors=$(($2 * 2048 - 4096))
	rm -f "$img"
	truncate -s "${mb}M" "$img" || return 1
	if [ "$label" = gpt ]; then
		printf 'label: gpt\nstart=2048, size=%d, type=%s\n' "$sectors" "$type" |
			sfdisk -q "$img" >/dev/null 2>"$img.err" || {
			echo "disk: cannot partition $img: $(tr '\n' ' ' <"$img.err")" >&2
			rm -f "$img.err"
			return 1
		}
		rm -f "$img.err"
	else
		# one primary partition: status, CHS start (unused), type, CHS end, LBA start, count
		local le
		le=$(printf '%08x' "$sectors" | sed 's/\(..\)\(..\)\(..\)\(..\)/\\x\4\\x\3\\x\2\\x\1/')
		printf "\\x00\\x00\\x02\\x00\\x$type\\xfe\\xff\\xff\\x00\\x08\\x00\\x00$le" |
			dd of="$img" bs=1 seek=446 conv=notrunc status=none
		printf '\x55\xaa' | dd of="$img" bs=1 seek=510 conv=notrunc status=none
	fi
}

# disk_fill IMAGE PART: PART (the file system) written at 1 MiB into IMAGE
disk_fill() {
	dd if="$2" of="$1" bs=1M seek=1 conv=notrunc status=none
}

esp_disk() {
	local img=$1 mb=$2 label=$3 part=$1.part f dest dir path p made=" " parts
	shift 3
	disk_label "$img" "$mb" "$label" "$([ "$label" = gpt ] && echo U || echo ef)" || return 1
	truncate -s $(((mb * 2048 - 4096) * 512)) "$part"
	if ! mformat -i "$part" -F -v ESP :: 2>"$img.err"; then
		echo "disk: cannot make the FAT file system: $(tr '\n' ' ' <"$img.err")" >&2
		rm -f "$img.err" "$part"
		return 1
	fi
	for f; do
		dest=${f#*:}
		dir=${dest%/*}
		path=""
		IFS=/ read -ra parts <<<"${dir#/}"
		for p in "${parts[@]}"; do
			path+="/$p"
			[[ $made == *" $path "* ]] && continue
			mmd -i "$part" "::$path" 2>>"$img.err" || break
			made+="$path "
		done
		if ! mcopy -i "$part" "${f%%:*}" "::$dest" 2>>"$img.err"; then
			echo "disk: cannot copy ${f%%:*} to $dest: $(tr '\n' ' ' <"$img.err")" >&2
			rm -f "$img.err" "$part"
			return 1
		fi
	done
	rm -f "$img.err"
	disk_fill "$img" "$part"
	rm -f "$part"
}

ext4_disk() {
	local img=$1 mb=$2 dir=$3 part=$1.part
	disk_label "$img" "$mb" mbr 83 || return 1
	truncate -s $(((mb * 2048 - 4096) * 512)) "$part"
	if ! mkfs.ext4 -q -F -d "$dir" "$part" >"$img.err" 2>&1; then
		echo "disk: cannot make the ext4 file system: $(tr '\n' ' ' <"$img.err")" >&2
		rm -f "$img.err" "$part"
		return 1
	fi
	rm -f "$img.err"
	disk_fill "$img" "$part"
	rm -f "$part"
}

# bios_grub_disk IMAGE MiB DIR: ext4_disk, plus GRUB for BIOS (Debian's grub-pc-bin) in the MBR's
# boot code and in the gap before the partition, as grub-install lays it out (without a loop
# device): GRUB then reads /boot/grub/grub.cfg of the partition
bios_grub_disk() {
	local img=$1 core=$1.core lib=/usr/lib/grub/i386-pc
	ext4_disk "$@" || return 1
	if ! grub-mkimage -O i386-pc -d "$lib" -o "$core" -p '(hd0,msdos1)/boot/grub' \
		biosdisk part_msdos ext2 normal linux configfile serial terminal echo 2>"$img.err"; then
		echo "disk: cannot build GRUB for BIOS: $(tr '\n' ' ' <"$img.err")" >&2
		rm -f "$img.err" "$core"
		return 1
	fi
	rm -f "$img.err"
	if [ "$(stat -c %s "$core")" -gt $((2047 * 512)) ]; then
		echo "disk: GRUB's core image does not fit before the partition" >&2
		rm -f "$core"
		return 1
	fi
	# boot.img's code only: the partition table from byte 440 on stays
	dd if="$lib/boot.img" of="$img" bs=440 count=1 conv=notrunc status=none &&
		dd if="$core" of="$img" bs=512 seek=1 conv=notrunc status=none
	local rc=$?
	rm -f "$core"
	return $rc
}
